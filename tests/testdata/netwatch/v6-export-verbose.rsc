# jan/20/2026 10:15:03 by RouterOS 6.49.10
# software id = 9PLK-A1B2
#
# model = CCR1009-7G-1C-1S+
# serial number = 8B2D0A1C4E5F
/tool netwatch
add comment="Kantor Kecamatan Tanggulangin" disabled=no down-script="" host=\
    172.16.7.1 interval=1m timeout=1s up-script=""
add comment="Kantor Kecamatan Jabon" disabled=no down-script="" host=\
    172.16.8.1 interval=1m timeout=1s up-script=""
add comment="Kantor Kecamatan Krian" disabled=no down-script="" host=\
    172.16.9.1 interval=10s timeout=500ms up-script=""
add comment="" disabled=yes down-script="" host=172.16.10.1 interval=1m \
    timeout=1s up-script=""
