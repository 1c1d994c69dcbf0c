"""The Llama 3.1 8B's dense GEMM shape at TP1 written out by hand (session s32 pergemm), shared by
the step-floor tests so that both check the model against one independent formula."""

LLAMA_8B_LINEARS = (  # (in, out) features at TP1: QKV, attention out, gated FFN up, FFN down
    (4096.0, 4096.0 + 2 * 8 * 128.0),
    (4096.0, 4096.0),
    (4096.0, 2 * 14336.0),
    (14336.0, 4096.0),
)


def shape_by_hand(tokens: float, half_width: float, half_tokens: float) -> float:
    """The 8B's dense GEMM shape at TP1: each linear's forward, data- and weight-gradient GEMMs
    contract K, N and the tokens M in turn at X/(X + W), times add, weighted by in x out:
    M/(M + M_half) x 3 sum c / sum c ((K + W)/K + (N + W)/N + (M + W)/M)."""
    c = [k * n for k, n in LLAMA_8B_LINEARS]
    t = sum(
        ci * ((k + half_width) / k + (n + half_width) / n + (tokens + half_width) / tokens)
        for ci, (k, n) in zip(c, LLAMA_8B_LINEARS, strict=True)
    )
    return tokens / (tokens + half_tokens) * 3.0 * sum(c) / t
