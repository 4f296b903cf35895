# 2026-06-06 06:06:06 by RouterOS 7.19
/tool netwatch
add host=172.16.40.1 name=many-echoes packet-count=200 type=icmp
add host=172.16.40.2 name=every-two-days interval=2d type=icmp
add host=172.16.40.3 name=zero-max thr-max=0ms thr-avg=70s type=icmp
add host=172.16.40.4 name=web-many-codes http-codes=200,301,302 type=http-get
add host=172.16.40.5 name=tight-icmp interval=1s packet-count=10 packet-interval=200ms type=icmp
add host=172.16.40.6 name=slow-timeout interval=2s timeout=5s type=icmp
add host=172.16.40.7 name=bad-codes http-code-min=500 http-code-max=200 type=http-get
add host=172.16.40.8 name=zero-loss thr-loss-percent=0% packet-size=20 type=icmp
add host=172.16.40.9 name=huge-timeout interval=1h timeout=10m type=icmp
