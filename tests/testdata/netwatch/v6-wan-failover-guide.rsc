# Simple dual-WAN failover with Netwatch (RouterOS 6)
# ISP1 gateway is watched; when it stops answering, the default route via ISP1
# is disabled so traffic uses ISP2, and enabled again when ISP1 answers.
/tool netwatch
add host=172.16.255.1 interval=10s timeout=2s comment="ISP1 gateway" \
    down-script="/ip route disable [find comment=\"ISP1\"]\r\n:log warning \"ISP1 down, switching to ISP2\"" \
    up-script="/ip route enable [find comment=\"ISP1\"]\r\n:log warning \"ISP1 back\""
add host=172.16.254.1 interval=10s timeout=2s comment="ISP2 gateway" \
    down-script=":log warning \"ISP2 down\"" up-script=":log warning \"ISP2 back\""
