# 2026-05-05 12:00:00 by RouterOS 7.17
/tool netwatch
add host=172.16.30.1@vrf-mgmt name=mgmt-switch type=icmp comment="Switch manajemen (VRF)"
add host=fe80::1%ether2 name=uplink-ll type=icmp comment="Link-local uplink"
add host=fd00:172:16::1 name=core-v6 type=icmp comment="Core IPv6"
add host=203.0.113.7 name=doc-example type=icmp comment="From the documentation"
add host=172.16.30.2 name=mgmt-ap type=icmp src-address=172.16.30.254
