/tool netwatch
add host=172.16.19.1 comment="Kelurahan Pepelegi"
add host=172.16.19.2 comment="Kelurahan Kureksari" interval=30s
