# aug/30/2026 13:45:10 by RouterOS 6.49.10
# software id = WN7Q-2KXL
#
# model = RB2011UiAS
# serial number = 7C8D9E0F1A2B
/tool netwatch
add comment="Kantor Kelurahan Ngingas" host=172.16.22.1 interval=30s
add comment="Kantor Kelurahan Kepuh Kiriman \96 pos ronda" host=172.16.22.2 \
    interval=30s timeout=2s
add comment="Balai Desa Kedungrejo" disabled=yes host=172.16.22.3
