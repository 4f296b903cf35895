"""The Telegram command bot: the study's menu over netwatchd's store and the RouterOS API.

poller.py   getUpdates long polling, offset + audit (store.bot_repo, store.audit_repo), rate limit +
            authorization (auth.py)
parse.py    reading a command and validating its arguments (pure)
handlers.py gathering a command's data (store, router, prober)
render.py   rendering replies (pure), with text.py (tables, numbers, 4,096 split) and i18n.py (id/en;
            the state words are models.STATE_WORDS, the same as the alerts')

May import notify, report, web, lab (the layer below it: it uses report's maths for /report and the
Bot API client), store and everything below; never commands, cli or app.
"""
