"""Exact greedy nearest-neighbour walk over a k-d tree (numba-compiled).

The tree is built once over all points (median splits, leaves of at most
``_LEAF`` points, a bounding box per node). Each node counts its points not yet
visited; a visited point is removed by decrementing the counts on its path to
the root. The nearest unvisited point to the current one is found by a
depth-first branch and bound that skips empty subtrees and subtrees whose box
is farther than the best distance found; equal distances go to the lower
index, so the walk is the brute-force one of `dct_keras.spectral.orders`
(up to floating-point rounding of distances).
"""

import numba
import numpy as np

_LEAF = 16


@numba.njit(cache=True, nogil=True)
def _build(points):
    n, d = points.shape
    capacity = 2 * (n // _LEAF + 1) * 2 + 1
    start = np.zeros(capacity, np.int64)
    end = np.zeros(capacity, np.int64)
    left = -np.ones(capacity, np.int64)
    right = -np.ones(capacity, np.int64)
    parent = -np.ones(capacity, np.int64)
    low = np.zeros((capacity, d))
    high = np.zeros((capacity, d))
    index = np.arange(n)
    leaf_of = np.zeros(n, np.int64)
    stack = np.zeros(capacity, np.int64)
    nodes = 1
    start[0], end[0] = 0, n
    top = 1
    stack[0] = 0
    while top > 0:
        top -= 1
        node = stack[top]
        a, b = start[node], end[node]
        for k in range(d):
            low[node, k] = points[index[a], k]
            high[node, k] = points[index[a], k]
            for i in range(a + 1, b):
                value = points[index[i], k]
                if value < low[node, k]:
                    low[node, k] = value
                if value > high[node, k]:
                    high[node, k] = value
        if b - a <= _LEAF:
            for i in range(a, b):
                leaf_of[index[i]] = node
            continue
        axis = 0
        for k in range(1, d):
            if high[node, k] - low[node, k] > high[node, axis] - low[node, axis]:
                axis = k
        segment = index[a:b]
        keys = points[segment, axis]
        order = np.argsort(keys, kind="mergesort")
        index[a:b] = segment[order]
        middle = (a + b) // 2
        for child, (c_start, c_end) in enumerate(((a, middle), (middle, b))):
            new = nodes
            nodes += 1
            start[new], end[new] = c_start, c_end
            parent[new] = node
            if child == 0:
                left[node] = new
            else:
                right[node] = new
            stack[top] = new
            top += 1
    alive = end[:nodes] - start[:nodes]
    return index, start[:nodes], end[:nodes], left[:nodes], right[:nodes], parent[:nodes], low[:nodes], high[:nodes], alive, leaf_of


@numba.njit(cache=True, nogil=True)
def _box_distance(query, low, high, node):
    total = 0.0
    for k in range(query.shape[0]):
        if query[k] < low[node, k]:
            gap = low[node, k] - query[k]
            total += gap * gap
        elif query[k] > high[node, k]:
            gap = query[k] - high[node, k]
            total += gap * gap
    return total


@numba.njit(cache=True, nogil=True)
def greedy_walk(points, first):
    n, d = points.shape
    index, start, end, left, right, parent, low, high, alive, leaf_of = _build(points)
    taken = np.zeros(n, np.bool_)
    order = np.empty(n, np.int64)
    stack = np.zeros(4 * 64 + len(start), np.int64)
    gaps = np.zeros(4 * 64 + len(start))
    current = first
    for step in range(n):
        order[step] = current
        taken[current] = True
        node = leaf_of[current]
        while node >= 0:
            alive[node] -= 1
            node = parent[node]
        if step == n - 1:
            break
        query = points[current]
        best, best_index = np.inf, n
        top = 1
        stack[0] = 0
        gaps[0] = 0.0
        while top > 0:
            top -= 1
            node = stack[top]
            if alive[node] == 0 or gaps[top] > best:
                continue
            if left[node] < 0:
                for i in range(start[node], end[node]):
                    candidate = index[i]
                    if taken[candidate]:
                        continue
                    total = 0.0
                    for k in range(d):
                        gap = points[candidate, k] - query[k]
                        total += gap * gap
                    if total < best or (total == best and candidate < best_index):
                        best, best_index = total, candidate
                continue
            near, far = left[node], right[node]
            near_gap = _box_distance(query, low, high, near)
            far_gap = _box_distance(query, low, high, far)
            if near_gap > far_gap:
                near, far, near_gap, far_gap = far, near, far_gap, near_gap
            if alive[far] > 0 and far_gap <= best:
                stack[top] = far
                gaps[top] = far_gap
                top += 1
            if alive[near] > 0 and near_gap <= best:
                stack[top] = near
                gaps[top] = near_gap
                top += 1
        current = best_index
    return order
