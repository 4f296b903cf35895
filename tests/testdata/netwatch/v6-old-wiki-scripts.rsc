# jan/02/1970 00:12:40 by RouterOS 6.30.4
# software id = A1B2-C3D4
#
/system script
add name=gw_1 policy=read,write,test source="/ip route set [/ip route find dst 0.0.0.0] gateway 172.16.0.1"
add name=gw_2 policy=read,write,test source="/ip route set [/ip route find dst 0.0.0.0] gateway 172.16.0.217"
/tool netwatch
add down-script=gw_1 host=172.16.0.217 interval=10s timeout=998ms up-script=gw_2
