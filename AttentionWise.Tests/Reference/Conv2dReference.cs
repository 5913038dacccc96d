namespace AttentionWise.Tests.Reference;

/// <summary>Float64 2-D convolution (PyTorch's Conv2d: cross-correlation, zero padding), forward beside backward.
/// x [N, Ci, H, W], w [Co, Ci, KH, KW], b [Co] or null, y [N, Co, Ho, Wo].</summary>
public sealed record Conv2dReference(int N, int Ci, int Co, int H, int W, int KH, int KW, int SY, int SX, int PY, int PX)
{
    public int Ho => (H + 2 * PY - KH) / SY + 1;
    public int Wo => (W + 2 * PX - KW) / SX + 1;
    public int InputLength => N * Ci * H * W;
    public int WeightLength => Co * Ci * KH * KW;
    public int OutputLength => N * Co * Ho * Wo;

    public double[] Forward(double[] x, double[] w, double[]? b)
    {
        var y = new double[OutputLength];
        for (int n = 0; n < N; n++)
            for (int co = 0; co < Co; co++)
                for (int oy = 0; oy < Ho; oy++)
                    for (int ox = 0; ox < Wo; ox++)
                    {
                        double s = b is null ? 0 : b[co];
                        for (int ci = 0; ci < Ci; ci++)
                            for (int ky = 0; ky < KH; ky++)
                            {
                                int iy = oy * SY + ky - PY;
                                if (iy < 0 || iy >= H)
                                    continue;
                                for (int kx = 0; kx < KW; kx++)
                                {
                                    int ix = ox * SX + kx - PX;
                                    if (ix < 0 || ix >= W)
                                        continue;
                                    s += w[((co * Ci + ci) * KH + ky) * KW + kx] * x[((n * Ci + ci) * H + iy) * W + ix];
                                }
                            }
                        y[((n * Co + co) * Ho + oy) * Wo + ox] = s;
                    }
        return y;
    }

    /// <summary>Gradients of L = Σ y ⊙ gy with respect to x, w and b (b's is Σ gy over n, oy, ox).</summary>
    public (double[] Gx, double[] Gw, double[] Gb) Backward(double[] x, double[] w, double[] gy)
    {
        var gx = new double[InputLength];
        var gw = new double[WeightLength];
        var gb = new double[Co];
        for (int n = 0; n < N; n++)
            for (int co = 0; co < Co; co++)
                for (int oy = 0; oy < Ho; oy++)
                    for (int ox = 0; ox < Wo; ox++)
                    {
                        double g = gy[((n * Co + co) * Ho + oy) * Wo + ox];
                        gb[co] += g;
                        for (int ci = 0; ci < Ci; ci++)
                            for (int ky = 0; ky < KH; ky++)
                            {
                                int iy = oy * SY + ky - PY;
                                if (iy < 0 || iy >= H)
                                    continue;
                                for (int kx = 0; kx < KW; kx++)
                                {
                                    int ix = ox * SX + kx - PX;
                                    if (ix < 0 || ix >= W)
                                        continue;
                                    int wi = ((co * Ci + ci) * KH + ky) * KW + kx;
                                    int xi = ((n * Ci + ci) * H + iy) * W + ix;
                                    gw[wi] += g * x[xi];
                                    gx[xi] += g * w[wi];
                                }
                            }
                    }
        return (gx, gw, gb);
    }
}
