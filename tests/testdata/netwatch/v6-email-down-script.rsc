# jul/01/2026 11:11:11 by RouterOS 6.49.7
# software id = M9N8-B7V6
#
/tool netwatch
add comment="Server SIMPEG" down-script="/tool e-mail send to=\"admin@diskominfo.lab\" subject=\
    \"[\$[/system identity get name]] SIMPEG DOWN\" body=\"Server SIMPEG tidak bisa di-ping\"" \
    host=172.16.0.30 interval=1m timeout=3s up-script="/tool e-mail send to=\"admin@diskominfo.\
    lab\" subject=\"SIMPEG UP\" body=\"Server SIMPEG normal kembali\""
