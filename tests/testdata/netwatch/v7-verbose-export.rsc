# 2026-07-07 07:07:07 by RouterOS 7.18.2
# software id = ZX9C-VB8N
#
/tool netwatch
add accept-icmp-time-exceeded=no comment="Kantor Kecamatan Taman" disabled=no \
    down-script="" host=172.16.14.1 http-codes="" interval=10s name=Taman \
    packet-count=10 packet-interval=50ms packet-size=54 start-delay=3s \
    startup-delay=5m test-script="" thr-avg=100ms thr-jitter=1s \
    thr-loss-count=4294967295 thr-loss-percent=85% thr-max=1s thr-stdev=250ms \
    timeout=3s type=icmp up-script=""
add accept-icmp-time-exceeded=no comment="Kantor Kecamatan Waru" disabled=no \
    down-script="" host=172.16.200.117 http-codes="" interval=10s name=Waru \
    packet-count=10 packet-interval=50ms packet-size=1500 start-delay=3s \
    startup-delay=5m test-script="" thr-avg=100ms thr-jitter=1s \
    thr-loss-count=4294967295 thr-loss-percent=85% thr-max=1s thr-stdev=250ms \
    timeout=3s ttl=32 type=icmp up-script=""
