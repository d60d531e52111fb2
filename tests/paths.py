"""Where the tests find the checkout and the shared real data (tests skip cleanly without it)."""

import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED_DATA = os.path.join(ROOT, "..", "shared", "data")
