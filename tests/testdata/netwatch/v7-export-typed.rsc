# 2026-08-19 10:02:44 by RouterOS 7.16.2
# software id = 9ZQA-QX1B
#
# model = CCR2004-1G-12S+2XS
# serial number = HE50A1B2C3D
/tool netwatch
add comment="Kantor Kecamatan Sidoarjo" disabled=no down-script="" host=\
    172.16.1.1 http-codes="" interval=10s name=Sidoarjo packet-count=5 \
    packet-interval=100ms test-script="" thr-avg=80ms thr-loss-percent=60% \
    thr-max=400ms timeout=1s type=icmp up-script=""
add disabled=no host=172.16.0.10 http-codes=200-299 interval=30s name=\
    "portal kabupaten" port=8080 thr-http-time=2s type=http-get
add disabled=no host=172.16.0.11 interval=1m name=sso port=443 type=https-get
add disabled=no host=172.16.0.22 interval=20s name=radius port=1812 \
    src-address=172.16.0.1 thr-tcp-conn-time=500ms type=tcp-conn
add disabled=no dns-server=172.16.0.53 host=sidoarjo.lab interval=1m name=\
    dns-dinas record-type=A type=dns
add disabled=yes host=172.16.2.1 interval=10s name=Buduran start-delay=10s \
    type=simple
