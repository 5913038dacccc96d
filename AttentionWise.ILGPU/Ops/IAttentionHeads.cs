namespace AttentionWise.Ops;

/// <summary>The sizes of one layer of attention heads: K heads over C channels of H × W images, with or without the
/// biases Bx, By.</summary>
internal readonly record struct HeadsGeometry(int Heads, int Channels, int Height, int Width, bool Bias)
{
    /// <summary>Head-batchnorm channels, K·C.</summary>
    public int Q => Heads * Channels;
}

/// <summary>Wx, Wy (and Bx, By when the heads have biases), each [K, C, H, W]: the parameters' values, or their
/// gradients.</summary>
internal readonly record struct HeadsTensors(DeviceTensor Wx, DeviceTensor Wy, DeviceTensor? Bx, DeviceTensor? By);

/// <summary>The head batchnorm's (affine = false) running statistics, [K·C] each, and its settings.</summary>
internal readonly record struct HeadNorm(DeviceTensor RunningMean, DeviceTensor RunningVar, float Momentum, float Eps);

/// <summary>
/// Forward and backward of the K element-wise attention heads of one layer (SPEC §2; see
/// <see cref="Layers.AttentionHeads"/> for the maths): one instance per layer, which keeps what the backward pass needs
/// between the two. Backend-blind: the cpu device's vectorised passes, its per-row kernels, or the GPU plane kernels.
/// </summary>
internal interface IAttentionHeads : IDisposable
{
    /// <summary>Whether the passes run as vectorised host code (the cpu device with host passes on).</summary>
    bool RunsOnHost { get; }

    /// <summary>
    /// Z = the heads' outputs [N, K·C, H, W] for <paramref name="input"/> [N, C, H, W] into <paramref name="z"/>.
    /// Training: batch statistics, and the running statistics updated (unbiased variance, as PyTorch); otherwise the
    /// running statistics. Keeps the input, the weights and Z for <see cref="Backward"/>.
    /// </summary>
    void Forward(DeviceTensor input, HeadsTensors weights, HeadNorm norm, bool training, DeviceTensor z);

    /// <summary>
    /// Backward of the latest forward for <paramref name="gradOutput"/>: the input gradient into
    /// <paramref name="inputGradient"/> (when not null), starting from <paramref name="skipGradient"/> (when not null);
    /// adds the weight (and bias) gradients to <paramref name="gradients"/>.
    /// </summary>
    void Backward(DeviceTensor gradOutput, HeadsTensors gradients, DeviceTensor? inputGradient, DeviceTensor? skipGradient);

    /// <summary>The latest forward's softmaxes [2, N, K·C, H, W] (the row softmaxes Ox, then the column softmaxes Oy),
    /// or null before a forward; an implementation that does not keep them writes them on request.</summary>
    DeviceTensor? Softmaxes();

    /// <summary>R = Ox ⊙ Oy of the latest forward into <paramref name="relevance"/> [N, K·C, H, W].</summary>
    void Relevance(DeviceTensor relevance);

    /// <summary>The batchnorm statistics the latest forward used: (mean, 1/sqrt(var + eps)) per channel k·C + c.</summary>
    (float[] Mean, float[] InvStd) NormStatistics();
}

/// <summary>
/// Which variant of the heads' implementation to run (tests pass each one explicitly); a null or false member leaves the
/// choice to the backend. Only the GPU family has variants: the host family's vector width and whether it runs its
/// vectorised passes are device options (<see cref="DeviceOptions.Simd"/>, <see cref="DeviceOptions.HostPasses"/>).
/// </summary>
internal sealed record HeadsVariant
{
    /// <summary>The backend chooses everything.</summary>
    public static HeadsVariant Chosen { get; } = new();

    /// <summary>GPU: run the per-row kernels even where the plane kernels fit.</summary>
    public bool RowKernels { get; init; }

    /// <summary>GPU: the plane kernels' launch (it must fit the device and the kernels' limits), instead of the chosen one.</summary>
    public Backends.HeadPlaneTile? Tile { get; init; }

    /// <summary>GPU: rows of the weight-gradient groups (a power of two within the device's group), instead of the chosen.</summary>
    public int? WeightGradRows { get; init; }

    /// <summary>GPU: threads of the head batchnorm's statistics groups (a power of two ≥ 2 within the device's group and
    /// the group reductions' limit), instead of the device's group-reduction size.</summary>
    public int? StatsGroupSize { get; init; }
}
