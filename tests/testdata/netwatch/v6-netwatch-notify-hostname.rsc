/ tool netwatch add comment="notify, hostname=gateway" host=172.16.0.1;
/ tool netwatch add comment="notify, hostname=portal-kabupaten, parent=gateway" host=[ :resolve "portal.sidoarjo.lab" ] timeout=5s;
/ tool netwatch add comment="notify, hostname=poe-device, down-hook=/ interface ethernet poe power-cycle en21;" host=172.16.0.20;
/ tool netwatch add comment="notify, hostname=access-point, count=10" host=172.16.0.21;
