# oct/01/2025 10:00:00 by RouterOS 6.45.9
/tool netwatch
add comment="Kantor Kecamatan Taman – Gedung B (café lantai 1)" host=172.16.14.2
add comment="Pos Kamling «Blok C»" host=172.16.14.3 interval=2m
