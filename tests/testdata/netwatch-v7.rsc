# 2026-11-27 09:20:11 by RouterOS 7.15.3
# software id = 9ZQA-QX1B
#
# model = CCR2004-1G-12S+2XS
# serial number = HE50A1B2C3D
/tool netwatch
add comment="Kantor Kecamatan Sidoarjo \E2\80\94 gedung utama" disabled=no down-script="" \
    host=172.16.1.1 http-codes="" interval=10s name=Sidoarjo packet-count=5 \
    packet-interval=100ms test-script="" thr-avg=50ms thr-loss-percent=60% thr-max=300ms \
    timeout=1s type=icmp up-script=""
add comment="Portal kecamatan" disabled=no host=172.16.0.10 http-codes=200-299 interval=30s \
    name=portal port=8080 thr-http-time=2s type=http-get
add disabled=no host=172.16.0.22 interval=20s name=radius port=1812 src-address=172.16.0.1 \
    thr-tcp-conn-time=500ms type=tcp-conn
add disabled=no dns-server=172.16.0.53 host=sidoarjokab.go.id interval=1m name=dns-dinas \
    record-type=A type=dns
add disabled=yes host=172.16.200.117 interval=10s name=Waru start-delay=10s type=simple
add host=172.16.9.1 name=Krian type=icmp thr-loss-count=3
/tool/netwatch add host=172.16.12.1 name=Tarik comment="Tarik; ruang server" type=simple
