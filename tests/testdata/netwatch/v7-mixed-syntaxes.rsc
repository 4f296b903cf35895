# 2026-10-10 08:00:00 by RouterOS 7.20
/tool netwatch
add comment="Kecamatan Sidoarjo \E2\80\94 gedung A" host=172.16.1.1 name=Sidoarjo type=icmp
/tool/netwatch/add host=172.16.2.1 name=Buduran comment="Kecamatan \"Buduran\"" type=icmp
/ tool netwatch add host=172.16.3.1 name=Candi type=simple; / tool netwatch add host=172.16.4.1 name=Porong
/tool netwatch add host=172.16.5.1 name=Krembung comment="Krembung\r\nlantai 2" \
    interval=15s type=icmp
/tool/netwatch
add host=172.16.6.1 name=Tulangan comment="biaya \$0 \_ gratis" type=icmp
/tool netwatch set [ find name=Porong ] interval=30s
