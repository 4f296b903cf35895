# 2026-03-03 03:03:03 by RouterOS 7.16
/system script
add name=kirim-telegram source=":local pesan \$1; /tool fetch url=(\"https://api.telegram.org/bot123456789:AAH4-examplE_t0ken-for-tests-0123456789/sendMessage\?chat_id=-1001234567890&text=\" . \$pesan) keep-result=no"
/tool netwatch
add down-script="/system script run kirim-telegram" host=172.16.9.1 name=Krian type=icmp \
    up-script="/system script run kirim-telegram"
add host=172.16.10.1 name=Balongbendo test-script=":if (\$status = \"down\") do={ :log warning \"Balongbendo gagal tes\" }" \
    type=icmp
add down-script="/tool fetch url=\"https://api.telegram.org/bot123456789:AAH4-examplE_t0ken-for-tests-0123456789/sendMessage\?chat_id=-1001234567890&text=Wonoayu%20DOWN\" keep-result=no" \
    host=172.16.11.1 name=Wonoayu type=icmp
