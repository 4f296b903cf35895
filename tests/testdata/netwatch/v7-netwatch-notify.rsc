# 2026-09-02 21:14:09 by RouterOS 7.19.4
# software id = 4RFD-8UJM
#
/tool netwatch
add comment="notify, name=internet" host=172.16.255.1 type=icmp
add comment="notify, name=gateway, parent=internet" host=172.16.0.1 type=icmp
add comment="notify, name=kecamatan-waru, parent=gateway, count=10" host=172.16.200.117 type=icmp
add comment="notify, name=printer-lantai2, parent=kecamatan-waru, no-down-notification" host=\
    172.16.200.130 type=simple
add comment="notify, name=cctv-pos, parent=kamera-pusat" host=172.16.200.140 type=simple
add comment="notify, name=portal, resolve=portal.sidoarjo.lab, link=https://portal.sidoarjo.lab/" \
    host=0.0 type=icmp
add comment="notify, name=voip, note=Telepon kantor; hubungi Pak Budi" host=172.16.0.40 type=icmp
add comment="doh, notify, name=dns-internal" host=172.16.0.53 type=icmp
add comment="notify, name=service, count=10" host=172.16.0.61 type=icmp
add comment="notify, name=service, count=10" host=172.16.0.62 type=icmp
/tool/netwatch/add comment=("notify, name=switch-inti, down-hook=/interface/ethernet \\{ disable \\\"en2\\\"; enable \\\"en2\\\"; \\}") host=172.16.0.2 type=icmp;
/tool/netwatch/add comment="notify, name=ap-aula, parent=ap-aula" host=172.16.200.150 type=icmp;
/tool/netwatch/add comment="notify, name=loop-a, parent=loop-b" host=172.16.0.71 type=icmp;
/tool/netwatch/add comment="notify, name=loop-b, parent=loop-a" host=172.16.0.72 type=icmp;
/tool/netwatch/add comment="{\"notify\":true,\"name\":\"json-style\",\"parent\":\"gateway\"}" host=172.16.0.80 type=icmp;
