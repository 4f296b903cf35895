[admin@MikroTik] > /system script add name=gw_1 source={/ip route set [find dst-address=0.0.0.0/0] gateway=172.16.0.1}
[admin@MikroTik] > /system script add name=gw_2 source={/ip route set [find dst-address=0.0.0.0/0] gateway=172.16.0.217}
[admin@MikroTik] > /tool netwatch
[admin@MikroTik] /tool netwatch> add host=172.16.0.217 interval=10s timeout=998ms \
\... up-script=gw_2 down-script=gw_1
[admin@MikroTik] /tool netwatch> print
Flags: X - disabled
 #   HOST                                       TIMEOUT              INTERVAL             STATUS
 0   172.16.0.217                               998ms                10s                  up
[admin@MikroTik] /tool netwatch> add host=172.16.0.1 comment="gateway lama"
