# 2026-04-04 04:04:04 by RouterOS 7.15.3
/tool netwatch
add host=sidoarjo.lab name=dns-lokal type=dns
add dns-server=172.16.0.53 host=sidoarjo.lab name=dns-dinas record-type=AAAA type=dns
add dns-server=172.16.0.53 host=mail.sidoarjo.lab name=dns-mx record-type=MX type=dns
add host=172.16.0.25 name=smtp type=tcp-conn
add host=172.16.0.25 name=smtp-587 port=587 type=tcp-conn
add host=172.16.0.26 name=snmp-box type=snmp-get
