# Monitoring the office links with Netwatch (RouterOS 7.x)
# Paste into the terminal:
/tool/netwatch/add host=172.16.20.1 type=icmp interval=30s name=kantor-pusat comment="Head office"
/tool/netwatch/add host=172.16.20.2 type=icmp interval=30s packet-count=3 thr-loss-percent=50% name=cabang-1 comment="Branch 1";
/tool/netwatch/add host=172.16.20.3 type=tcp-conn port=22 interval=1m name=ssh-server
/tool/netwatch/add host=172.16.20.4 type=http-get interval=1m name=intranet http-codes=200-399
/tool/netwatch/print
