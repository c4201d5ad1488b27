"""Simulate a small store and replay it through the engine from Python, printing receipts."""
import sys
import tempfile

from fusion.engine import Engine
from fusion.recording import Recording
from fusion.sim import simulate

folder = sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(prefix="easy-")
simulate("easy", 0, folder)                      # writes store.toml, weights.csv, ... truth.json
rec = Recording(folder)
engine = Engine(rec.store)
for item in rec.stream():                        # weights, frames and taps in time order
    for receipt in engine.feed(item):            # receipts decided as shoppers leave
        print(receipt.shopper, dict(receipt.items), "review" if receipt.review else "")
for receipt in engine.finish():
    print(receipt.shopper, dict(receipt.items), "review" if receipt.review else "", "(at end)")
