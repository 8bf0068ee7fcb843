"""Lookups over an ONNX graph that the QDQ rewriting scripts share."""
import collections


def index(graph):
    """(initializers by name, producing node by value name, reading nodes by value name)."""
    inits = {i.name: i for i in graph.initializer}
    producer = {o: n for n in graph.node for o in n.output}
    readers = collections.defaultdict(list)
    for n in graph.node:
        for i in n.input:
            readers[i].append(n)
    return inits, producer, readers
