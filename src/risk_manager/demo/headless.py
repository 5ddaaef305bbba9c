"""`risk-manager demo --headless`: the enforcement timeline on stdout, one line per step."""

from __future__ import annotations

from risk_manager.demo.feed import EventFeed
from risk_manager.demo.script import DemoScript
from risk_manager.demo.stack import SIM_API_KEY, SIM_USER, DemoStack
from risk_manager.demo.timeline import format_step
from risk_manager.demo.trader import DemoTrader


def _out(text: str) -> None:
    print(text, flush=True)


async def run_headless(stack: DemoStack) -> int:
    _out("Simple Risk Manager demo (headless)")
    _out(f"  simulator  {stack.api}  (account {stack.account_id}, prices move only when the script moves them)")
    _out(f"  daemon     status API {stack.status_url}")
    _out(f"  temp dir   {stack.root}  (config, database and daemon log; removed at exit)")
    _out("")
    feed = EventFeed(stack.status_url)
    trader = DemoTrader(stack.api, SIM_USER, SIM_API_KEY, stack.account_id)
    try:
        await feed.start()
        script = DemoScript(trader, feed, stack.market_subscribed,
                            say=lambda text: _out(f"  -- {text}"), on_step=lambda step: _out(format_step(step)))
        timeline = await script.run()
    finally:
        await trader.close()
        await feed.stop()
    _out("")
    _out(timeline.summary())
    return 0 if timeline.all_ok else 1
