# jan/02/1970 00:03:33 by RouterOS 7.1.5
# software id = 1A2B-3C4D
#
# model = RB5009UG+S+
# serial number = HE20F0A1B2C
/tool netwatch
add comment="Kantor Kecamatan Sedati" host=172.16.18.1
add comment="Kantor Kecamatan Sukodono" host=172.16.17.1 interval=30s
