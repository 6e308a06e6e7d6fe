"""FreeSWITCH Event Socket: wire protocol (``protocol``) and command builders (``commands``).

Both modules are pure. Only the adapter imports greenswitch/gevent.
"""
