"""The textbook two-proportion z-test and Wald interval, for checking the
analytics service's experiment results. Reads {"control": [conversions,
exposures], "treatment": [conversions, exposures]} on stdin, prints JSON.
"""
import json
import math
import sys
from statistics import NormalDist

data = json.load(sys.stdin)
c1, n1 = data["control"]
c2, n2 = data["treatment"]
p1, p2 = c1 / n1, c2 / n2
pooled = (c1 + c2) / (n1 + n2)
z = (p2 - p1) / math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
p_value = 2 * (1 - NormalDist().cdf(abs(z)))
half = NormalDist().inv_cdf(0.975) * math.sqrt(p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2)
print(json.dumps({
    "difference": p2 - p1,
    "low": p2 - p1 - half,
    "high": p2 - p1 + half,
    "z": z,
    "pValue": p_value,
}))
