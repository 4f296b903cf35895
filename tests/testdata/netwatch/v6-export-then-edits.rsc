# may/05/2026 09:00:00 by RouterOS 6.49.10
# software id = 5TRE-W3QX
#
/tool netwatch
add comment="Kec. Sukodono" host=172.16.17.1
add comment="Kec. Sedati" host=172.16.18.1
add comment="Kec. Tanggulangin lama" host=172.16.7.99
add comment="Kec. Jabon" host=172.16.8.1
# perubahan setelah survei
set [ find comment="Kec. Sukodono" ] interval=30s timeout=2s
remove [ find host=172.16.7.99 ]
disable 1
set [ find where comment~"Jabon" ] comment="Kec. Jabon (radio)"
set 9 interval=5s
