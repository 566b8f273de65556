"""Two ``livecon`` nodes on one private redis-server behave as one hub."""

from __future__ import annotations

from tests.support import Client, chat_texts, mint, nodes


async def test_comment_on_node_a_reaches_dashboard_on_node_b(redis_url: str) -> None:
    with nodes(2, redis_url) as (node_a, node_b):
        dashboard = await Client.connect(
            node_b.ws_url(mint("show1", "controller", "boss")), binary=True
        )
        viewer = await Client.connect(node_a.ws_url(mint("show1", "viewer", "v1")))
        ack = await viewer.request({"t": "comment", "id": 1, "text": "主播好 hello"})
        assert ack["t"] == "ack"
        frame = await dashboard.receive_until(lambda f: "主播好 hello" in chat_texts(f))
        assert frame["chat"][0]["user"] == "v1"
        await viewer.close()
        await dashboard.close()


async def test_cue_reaches_host_on_other_node_in_order(redis_url: str) -> None:
    with nodes(2, redis_url) as (node_a, node_b):
        host = await Client.connect(node_b.ws_url(mint("show2", "host", "anna")))
        controller = await Client.connect(node_a.ws_url(mint("show2", "controller", "boss")))
        for index in range(5):
            assert (await controller.request({"t": "cue", "id": index, "text": f"cue {index}"}))[
                "t"
            ] == "ack"
        seen: list[tuple[int, str]] = []
        while len(seen) < 5:
            frame = await host.receive_until(lambda f: "ev" in f)
            seen += [
                (event["seq"], event["text"]) for event in frame["ev"] if event["type"] == "cue"
            ]
        assert [text for _, text in seen] == [f"cue {i}" for i in range(5)]
        assert [seq for seq, _ in seen] == sorted(seq for seq, _ in seen)
        await host.close()
        await controller.close()
