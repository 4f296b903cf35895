# 2026-02-02 02:02:02 by RouterOS 7.14.3
/tool netwatch
add comment="Kantor Kecamatan Sidoarjo, gedung utama lantai 3, ruang server sebelah tangga darurat; kunci rak dipegang Pak Slamet (ext. 214); UPS 2 kVA dicek tiap Senin; jangan dimatikan tanpa izin Kabid TIK. Kantor Kecamatan Sidoarjo, gedung utama lantai 3, ruang server sebelah tangga darurat; kunci rak dipegang Pak Slamet (ext. 214); UPS 2 kVA dicek tiap Senin; jangan dimatikan tanpa izin Kabid TIK. " host=172.16.1.1 name=Sidoarjo type=icmp
add comment="Waru / Gedangan, cadangan" host=172.16.200.117 type=icmp
add comment="Waru / Gedangan, cadangan" host=172.16.16.1 type=icmp
add host=172.16.16.1 name="Sidoarjo" type=icmp
add comment="pakai \${TOKEN} dan \${x y} di script" host=172.16.16.2 type=icmp
add comment="   " host=172.16.16.3 name="   " type=icmp
add comment="tab\there\07bell" host=172.16.16.4 type=icmp
