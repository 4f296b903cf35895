# From a forum answer: failover with netwatch, RouterOS 7
/tool netwatch add host=172.16.255.1 interval=5s timeout=1s type=icmp name=isp1 down-script={
    /ip route disable [find comment="ISP1"]
    :log warning "ISP1 down"
} up-script={
    /ip route enable [find comment="ISP1"]
    :log warning "ISP1 up"
}
/tool netwatch add host=172.16.254.1 interval=5s timeout=1s type=icmp name=isp2 # watch ISP2 too
