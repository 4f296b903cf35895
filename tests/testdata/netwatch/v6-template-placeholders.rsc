# Template from a guide: replace the placeholders with your own addresses.
/tool netwatch
add host=IP_OF_HOST interval=30s comment="Server utama" down-script=":log error \"server down\""
add host=x.x.x.x interval=30s comment="Gateway ISP"
add host=172.16.1.X comment="Router kecamatan"
add host=GATEWAY comment="Gateway"
add host=your-ip-address comment="Your device"
add host=$gateway comment="variable from a script"
add host=172.16.14.1 comment="Kecamatan Taman"
