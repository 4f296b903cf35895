# apr/02/2026 07:30:00 by RouterOS 6.49.15
# software id = KX3P-9QRT
#
# model = RB4011iGS+
# serial number = HD40A2B3C4D5
/tool netwatch add comment="Kantor Kecamatan Balongbendo" host=172.16.10.1 interval=20s
/tool netwatch add comment="Kantor Kecamatan Wonoayu" host=172.16.11.1 interval=20s
/tool netwatch add comment="Kantor Kecamatan Tarik" host=172.16.12.1 interval=20s timeout=2s
/tool netwatch add comment="Kantor Kecamatan Prambon" disabled=yes host=172.16.13.1
