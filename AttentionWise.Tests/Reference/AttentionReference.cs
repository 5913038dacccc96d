namespace AttentionWise.Tests.Reference;

/// <summary>Sizes of an attention-heads reference computation.</summary>
public sealed record HeadsShape(int N, int K, int C, int H, int W)
{
    public int Q => K * C;
    public int Plane => H * W;
    public int InputLength => N * C * H * W;
    public int WeightLength => K * C * H * W;
    public int OutputLength => N * K * C * H * W;
}

/// <summary>What the reference heads forward computes (everything the backward and the tests need).</summary>
public sealed class HeadsForwardResult
{
    public required double[] Z { get; init; }
    public required double[] Ox { get; init; }
    public required double[] Oy { get; init; }
    public required double[] R { get; init; }
    public required double[] RNorm { get; init; }

    /// <summary>Per channel k·C + c: the mean and 1/sqrt(var + eps) used.</summary>
    public required double[] Mean { get; init; }
    public required double[] InvStd { get; init; }

    /// <summary>Batch mean and biased variance per channel (training mode; else the running ones).</summary>
    public required double[] BatchVar { get; init; }
}

/// <summary>
/// Float64 reference of the element-wise attention heads (SPEC §2), forward beside backward, written as
/// the plain chain (softmaxes, product, batchnorm, product) without the kernels' fused formulas.
/// Layouts: x [N,C,H,W]; wx, wy, bx, by [K,C,H,W]; z and intermediates [N,K,C,H,W].
/// </summary>
public static class AttentionReference
{
    public static HeadsForwardResult HeadsForward(HeadsShape s, double[] x, double[] wx, double[] wy, double[]? bx, double[]? by,
        bool training, double[] runningMean, double[] runningVar, double eps = 1e-5)
    {
        int len = s.OutputLength;
        var ox = new double[len];
        var oy = new double[len];
        var r = new double[len];
        var rn = new double[len];
        var z = new double[len];
        for (int n = 0; n < s.N; n++)
        for (int k = 0; k < s.K; k++)
        for (int c = 0; c < s.C; c++)
        {
            int ob = ((n * s.K + k) * s.C + c) * s.Plane;
            int xb = (n * s.C + c) * s.Plane;
            int wb = (k * s.C + c) * s.Plane;
            for (int i = 0; i < s.H; i++)
            {
                var p = new double[s.W];
                for (int j = 0; j < s.W; j++)
                {
                    int e = i * s.W + j;
                    p[j] = x[xb + e] * wx[wb + e] + (bx is null ? 0 : bx[wb + e]);
                }
                var sm = Softmax(p);
                for (int j = 0; j < s.W; j++)
                    ox[ob + i * s.W + j] = sm[j];
            }
            for (int j = 0; j < s.W; j++)
            {
                var p = new double[s.H];
                for (int i = 0; i < s.H; i++)
                {
                    int e = i * s.W + j;
                    p[i] = x[xb + e] * wy[wb + e] + (by is null ? 0 : by[wb + e]);
                }
                var sm = Softmax(p);
                for (int i = 0; i < s.H; i++)
                    oy[ob + i * s.W + j] = sm[i];
            }
        }
        for (int e = 0; e < len; e++)
            r[e] = ox[e] * oy[e];

        var mean = new double[s.Q];
        var invStd = new double[s.Q];
        var batchVar = new double[s.Q];
        int count = s.N * s.Plane;
        for (int q = 0; q < s.Q; q++)
        {
            if (training)
            {
                double m = 0;
                foreach (int e in ChannelElements(s, q))
                    m += r[e];
                m /= count;
                double v = 0;
                foreach (int e in ChannelElements(s, q))
                    v += (r[e] - m) * (r[e] - m);
                v /= count;
                mean[q] = m;
                batchVar[q] = v;
                invStd[q] = 1 / Math.Sqrt(v + eps);
            }
            else
            {
                mean[q] = runningMean[q];
                batchVar[q] = runningVar[q];
                invStd[q] = 1 / Math.Sqrt(runningVar[q] + eps);
            }
        }
        for (int n = 0; n < s.N; n++)
        for (int q = 0; q < s.Q; q++)
        {
            int c = q % s.C;
            for (int p = 0; p < s.Plane; p++)
            {
                int e = (n * s.Q + q) * s.Plane + p;
                rn[e] = (r[e] - mean[q]) * invStd[q];
                z[e] = x[(n * s.C + c) * s.Plane + p] * rn[e];
            }
        }
        return new HeadsForwardResult { Z = z, Ox = ox, Oy = oy, R = r, RNorm = rn, Mean = mean, InvStd = invStd, BatchVar = batchVar };
    }

    /// <summary>Running statistics after one training forward: momentum update with the unbiased variance.</summary>
    public static (double[] Mean, double[] Var) UpdatedRunningStats(HeadsShape s, HeadsForwardResult f, double[] runningMean, double[] runningVar, double momentum = 0.1)
    {
        int count = s.N * s.Plane;
        var m = new double[s.Q];
        var v = new double[s.Q];
        for (int q = 0; q < s.Q; q++)
        {
            m[q] = (1 - momentum) * runningMean[q] + momentum * f.Mean[q];
            v[q] = (1 - momentum) * runningVar[q] + momentum * f.BatchVar[q] * count / Math.Max(1, count - 1);
        }
        return (m, v);
    }

    /// <summary>Backward of <see cref="HeadsForward"/> for L = Σ Z ⊙ gZ: gradients of x, wx, wy, bx, by.</summary>
    public static (double[] GX, double[] GWx, double[] GWy, double[] GBx, double[] GBy) HeadsBackward(HeadsShape s, HeadsForwardResult f,
        double[] x, double[] wx, double[] wy, double[] gz, bool training)
    {
        int len = s.OutputLength;
        var gRn = new double[len];
        var gx = new double[s.InputLength];
        for (int n = 0; n < s.N; n++)
        for (int q = 0; q < s.Q; q++)
        {
            int c = q % s.C;
            for (int p = 0; p < s.Plane; p++)
            {
                int e = (n * s.Q + q) * s.Plane + p;
                int xi = (n * s.C + c) * s.Plane + p;
                gRn[e] = gz[e] * x[xi];
                gx[xi] += gz[e] * f.RNorm[e];
            }
        }
        // Batchnorm (affine = false) backward.
        var gR = new double[len];
        int count = s.N * s.Plane;
        for (int q = 0; q < s.Q; q++)
        {
            double mg = 0, mgr = 0;
            if (training)
            {
                foreach (int e in ChannelElements(s, q))
                {
                    mg += gRn[e];
                    mgr += gRn[e] * f.RNorm[e];
                }
                mg /= count;
                mgr /= count;
            }
            foreach (int e in ChannelElements(s, q))
                gR[e] = f.InvStd[q] * (gRn[e] - mg - f.RNorm[e] * mgr);
        }
        // R = Ox ⊙ Oy, then the softmax backward of each row and each column.
        var gPx = new double[len];
        var gPy = new double[len];
        for (int nq = 0; nq < s.N * s.Q; nq++)
        {
            int b = nq * s.Plane;
            for (int i = 0; i < s.H; i++)
            {
                double dot = 0;
                for (int j = 0; j < s.W; j++)
                {
                    int e = b + i * s.W + j;
                    dot += f.Ox[e] * (gR[e] * f.Oy[e]);
                }
                for (int j = 0; j < s.W; j++)
                {
                    int e = b + i * s.W + j;
                    gPx[e] = f.Ox[e] * (gR[e] * f.Oy[e] - dot);
                }
            }
            for (int j = 0; j < s.W; j++)
            {
                double dot = 0;
                for (int i = 0; i < s.H; i++)
                {
                    int e = b + i * s.W + j;
                    dot += f.Oy[e] * (gR[e] * f.Ox[e]);
                }
                for (int i = 0; i < s.H; i++)
                {
                    int e = b + i * s.W + j;
                    gPy[e] = f.Oy[e] * (gR[e] * f.Ox[e] - dot);
                }
            }
        }
        var gwx = new double[s.WeightLength];
        var gwy = new double[s.WeightLength];
        var gbx = new double[s.WeightLength];
        var gby = new double[s.WeightLength];
        for (int n = 0; n < s.N; n++)
        for (int q = 0; q < s.Q; q++)
        {
            int c = q % s.C;
            for (int p = 0; p < s.Plane; p++)
            {
                int e = (n * s.Q + q) * s.Plane + p;
                int xi = (n * s.C + c) * s.Plane + p;
                int wi = q * s.Plane + p;
                gwx[wi] += gPx[e] * x[xi];
                gwy[wi] += gPy[e] * x[xi];
                gbx[wi] += gPx[e];
                gby[wi] += gPy[e];
                gx[xi] += gPx[e] * wx[wi] + gPy[e] * wy[wi];
            }
        }
        return (gx, gwx, gwy, gbx, gby);
    }

    public static double[] Softmax(double[] p)
    {
        double m = p.Max();
        var e = p.Select(v => Math.Exp(v - m)).ToArray();
        double sum = e.Sum();
        return e.Select(v => v / sum).ToArray();
    }

    private static IEnumerable<int> ChannelElements(HeadsShape s, int q)
    {
        for (int n = 0; n < s.N; n++)
        {
            int b = (n * s.Q + q) * s.Plane;
            for (int p = 0; p < s.Plane; p++)
                yield return b + p;
        }
    }
}
