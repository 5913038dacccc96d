namespace AttentionWise.Tests.Reference;

/// <summary>The parameters of one attention layer in float64, in AttentionLayer's parameter order.</summary>
public sealed record AttentionLayerParams(double[] Wx, double[] Wy, double[]? Bx, double[]? By, double[] ConvW, double[] ConvB, double[]? BnGamma, double[]? BnBeta)
{
    /// <summary>wx, wy, [bx, by], conv.weight, conv.bias, [bn.weight, bn.bias]: the device module's NamedParameters order.</summary>
    public IReadOnlyList<double[]> All =>
        new[] { Wx, Wy, Bx, By, ConvW, ConvB, BnGamma, BnBeta }.Where(a => a is not null).Select(a => a!).ToList();

    /// <summary>The same parameters with entry <paramref name="index"/> of <see cref="All"/> replaced.</summary>
    public AttentionLayerParams With(int index, double[] value)
    {
        var all = new List<double[]?> { Wx, Wy, Bx, By, ConvW, ConvB, BnGamma, BnBeta };
        int seen = -1;
        for (int i = 0; i < all.Count; i++)
        {
            if (all[i] is not null && ++seen == index)
                all[i] = value;
        }
        return new(all[0]!, all[1]!, all[2], all[3], all[4]!, all[5]!, all[6], all[7]);
    }
}

/// <summary>
/// Float64 reference of one attention layer (SPEC §2), forward beside backward, in training mode (batch
/// statistics in the head batchnorm and the post-conv batchnorm): Z = heads(X); Y = conv3×3(Z) [+ X];
/// [BN2d]; out = ReLU. Built from the heads, Conv2d and BatchNorm2d references.
/// </summary>
public static class AttentionLayerReference
{
    public sealed class Cache
    {
        public required HeadsForwardResult Heads { get; init; }
        public required double[] PreNorm { get; init; }
        public required double[] PreRelu { get; init; }
        public required double[] Out { get; init; }
    }

    public static Conv2dReference Conv(HeadsShape s) => new(s.N, s.Q, s.C, s.H, s.W, 3, 3, 1, 1, 1, 1);

    public static Cache Forward(HeadsShape s, AttentionLayerParams p, double[] x, bool skip)
    {
        var heads = AttentionReference.HeadsForward(s, x, p.Wx, p.Wy, p.Bx, p.By, true, new double[s.Q], Enumerable.Repeat(1.0, s.Q).ToArray());
        var y = Conv(s).Forward(heads.Z, p.ConvW, p.ConvB);
        if (skip)
        {
            for (int i = 0; i < y.Length; i++)
                y[i] += x[i];
        }
        var b = p.BnGamma is null ? y : BatchNorm2dReference.ForwardTrain(y, s.N, s.C, s.Plane, p.BnGamma, p.BnBeta, 1e-5).Y;
        var output = ElementwiseReference.Relu(b);
        return new Cache { Heads = heads, PreNorm = y, PreRelu = b, Out = output };
    }

    /// <summary>Gradients of L = Σ out ⊙ gOut: the input's, then every parameter's in <see cref="AttentionLayerParams.All"/> order.</summary>
    public static (double[] Gx, List<double[]> Grads) Backward(HeadsShape s, AttentionLayerParams p, double[] x, bool skip, Cache k, double[] gOut)
    {
        var gb = ElementwiseReference.ReluBackward(k.PreRelu, gOut);
        double[] gy = gb;
        double[]? gGamma = null, gBeta = null;
        if (p.BnGamma is not null)
            (gy, gGamma, gBeta) = BatchNorm2dReference.BackwardTrain(k.PreNorm, gb, s.N, s.C, s.Plane, p.BnGamma, 1e-5);
        var (gz, gcw, gcb) = Conv(s).Backward(k.Heads.Z, p.ConvW, gy);
        var (gx, gwx, gwy, gbx, gby) = AttentionReference.HeadsBackward(s, k.Heads, x, p.Wx, p.Wy, gz, true);
        if (skip)
        {
            for (int i = 0; i < gx.Length; i++)
                gx[i] += gy[i];
        }
        var grads = new List<double[]> { gwx, gwy };
        if (p.Bx is not null)
        {
            grads.Add(gbx);
            grads.Add(gby);
        }
        grads.Add(gcw);
        grads.Add(gcb);
        if (gGamma is not null)
        {
            grads.Add(gGamma);
            grads.Add(gBeta!);
        }
        return (gx, grads);
    }
}
