# feb/03/2026 08:41:17 by RouterOS 6.49.13
# software id = 3MZR-KQ8V
#
# model = RB1100x4
# serial number = D4F00C1A7B22
/tool netwatch
add comment="Kantor Kecamatan Sidoarjo" host=172.16.1.1
add comment="Kantor Kecamatan Buduran" host=172.16.2.1 interval=30s
add comment="Kantor Kecamatan Candi" host=172.16.3.1 interval=30s timeout=2s
add comment="Kecamatan Porong (link radio)" host=172.16.4.1 interval=2m \
    timeout=3s
add comment="Kecamatan Krembung - sementara mati" disabled=yes host=172.16.5.1
add comment="Puskesmas Tulangan" host=172.16.6.10 interval=00:00:45
