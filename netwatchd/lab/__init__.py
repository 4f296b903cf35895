"""What only the lab, the tests, the benchmarks and `netwatchd demo` use; nothing in production imports it.

Owns: netns.py + nsenter.py (network namespaces, veth, nftables loss), topology.py (the study's star:
monitor, core, kecamatan), harness.py (a whole lab run of `netwatchd run`), demo.py + chatview.py (the
demo's story), the stand-ins telegram_standin.py (Bot API) and routeros_standin.py (RouterOS API, with
routeros_wire.py, the API's word codec). May import store and what is below it; never notify, report,
web, bot, commands, cli or app.
"""
