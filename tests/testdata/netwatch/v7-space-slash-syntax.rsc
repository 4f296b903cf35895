/ tool netwatch add host=172.16.21.1 name=gw-dinas comment="Gateway Dinas" type=icmp;
/ tool netwatch add host=172.16.21.2 name=nas-dinas comment="NAS Dinas" interval=1m;
/ tool netwatch set [ find name=nas-dinas ] timeout=5s;
