# mar/11/2026 14:02:55 by RouterOS 6.48.6
# software id = 7HTB-2QWE
#
# model = RB750Gr3
# serial number = CC1E0D2F9A30
/tool netwatch
add comment="Kec. Waru" down-script="/tool fetch url=\"https://api.telegram.o\
    rg/bot987654321:AAF-contohTokenBukanAsli_0123456789ab/sendMessage\?chat_id\
    =-1009876543210&text=Kecamatan%20Waru%20TERPUTUS\" keep-result=no" host=\
    172.16.200.117 interval=30s up-script="/tool fetch url=\"https://api.tele\
    gram.org/bot987654321:AAF-contohTokenBukanAsli_0123456789ab/sendMessage\?c\
    hat_id=-1009876543210&text=Kecamatan%20Waru%20NORMAL\" keep-result=no"
add comment="Kec. Gedangan" down-script=":log error \"Gedangan putus\"; /tool \
    fetch url=\"https://api.telegram.org/bot987654321:AAF-contohTokenBukanAsli\
    _0123456789ab/sendMessage\?chat_id=-1009876543210&text=Gedangan%20DOWN\" k\
    eep-result=no" host=172.16.16.1 timeout=2s up-script=":log info \"Gedangan\
    \_normal\""
