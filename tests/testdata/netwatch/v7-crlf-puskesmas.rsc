# 2026-09-09 09:09:09 by RouterOS 7.19.4
# software id = R2D2-C3PO
#
/tool netwatch
add comment="Puskesmas Candi \E2\80\93 rawat inap" host=172.16.23.1 name=pkm-candi \
    type=icmp
add comment="Puskesmas Porong" host=172.16.23.2 interval=30s name=pkm-porong type=simple
add comment="SIMRS (web)" host=172.16.23.10 http-codes=200-399 name=simrs port=80 \
    type=http-get
