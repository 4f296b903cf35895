# jun/14/2026 16:20:41 by RouterOS 6.47.10
# software id = QW12-ER34
#
# model = RB951Ui-2HnD
# serial number = 6A7B8C9D0E1F
/tool netwatch
add comment="Link VSAT Kecamatan Jabon (latency tinggi)" host=172.16.8.20 \
    timeout=15s
add comment="Link radio Kecamatan Prambon" host=172.16.13.20 timeout=5s
