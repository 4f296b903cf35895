[admin@Kominfo-Core] /tool/netwatch> print
Columns: TYPE, HOST, TIMEOUT, INTERVAL, STATUS, SINCE
#   TYPE    HOST            TIMEOUT  INTERVAL  STATUS  SINCE
0   icmp    172.16.1.1      1s       10s       up      2026-08-19 10:02:44
1   simple  172.16.2.1      3s       10s       down    2026-08-19 09:58:01
