namespace AttentionWise.Tests.Reference;

/// <summary>Float64 fully connected layer y = x·Wᵀ + b, forward beside backward. x [N, I], w [O, I], b [O] or null.</summary>
public static class LinearReference
{
    public static double[] Forward(double[] x, double[] w, double[]? b, int n, int inF, int outF)
    {
        var y = new double[n * outF];
        for (int i = 0; i < n; i++)
            for (int o = 0; o < outF; o++)
            {
                double s = b?[o] ?? 0;
                for (int k = 0; k < inF; k++)
                    s += x[i * inF + k] * w[o * inF + k];
                y[i * outF + o] = s;
            }
        return y;
    }

    public static (double[] Gx, double[] Gw, double[] Gb) Backward(double[] x, double[] w, double[] gy, int n, int inF, int outF)
    {
        var gx = new double[n * inF];
        var gw = new double[outF * inF];
        var gb = new double[outF];
        for (int i = 0; i < n; i++)
            for (int o = 0; o < outF; o++)
            {
                double g = gy[i * outF + o];
                gb[o] += g;
                for (int k = 0; k < inF; k++)
                {
                    gx[i * inF + k] += g * w[o * inF + k];
                    gw[o * inF + k] += g * x[i * inF + k];
                }
            }
        return (gx, gw, gb);
    }
}
