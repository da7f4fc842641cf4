"""The demo's content: its trader, strategies, EA project and history (:mod:`.seed`) and its first
alerts (:mod:`.alerts`). The composition root runs it (:mod:`tnm_desktop.composition.demo`)."""
