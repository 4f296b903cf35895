# nov/27/2026 09:14:02 by RouterOS 6.49.10
# software id = 7KQ2-XM3V
#
# model = RB1100x4
# serial number = D4F00C9B2A11
/tool netwatch
add comment="Kantor Kecamatan Waru" down-script="/tool fetch url=\"https://api.tele\
    gram.org/bot123456789:AAH4-examplE_t0ken-for-tests-0123456789/sendMessage\?chat_id=-100\
    1234567890&text=Waru%20DOWN\" keep-result=no" host=172.16.200.117 \
    interval=30s timeout=2s up-script="/tool fetch url=\"https://api.telegram.org/\
    bot123456789:AAH4-examplE_t0ken-for-tests-0123456789/sendMessage\?chat_id=-1001234567890&te\
    xt=Waru%20UP\" keep-result=no"
add comment="Kecamatan Porong \"lama\"" host=172.16.4.1 interval=1m
add comment="Kecamatan Candi" disabled=yes host=172.16.3.1
add host=172.16.5.1 interval=00:00:15 comment="Krembung\r\nlantai 2"
add comment="Gedangan \$cadangan" down-script=":log warning \"Gedangan down\"" host=\
    172.16.16.1
set [ find host=172.16.5.1 ] timeout=1s
