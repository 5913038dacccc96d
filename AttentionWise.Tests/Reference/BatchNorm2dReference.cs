namespace AttentionWise.Tests.Reference;

/// <summary>Float64 batch normalisation over N, H, W per channel (PyTorch's BatchNorm2d), forward beside backward.
/// x [N, C, S] (S = H·W); gamma/beta [C] or null (not affine).</summary>
public static class BatchNorm2dReference
{
    /// <summary>Training: y = (x − mean)/sqrt(var + eps)·γ + β with the batch mean and biased variance.</summary>
    public static (double[] Y, double[] Mean, double[] Var) ForwardTrain(double[] x, int n, int c, int s, double[]? gamma, double[]? beta, double eps)
    {
        var mean = new double[c];
        var variance = new double[c];
        double count = (double)n * s;
        for (int ch = 0; ch < c; ch++)
        {
            double sum = 0;
            for (int i = 0; i < n; i++)
                for (int e = 0; e < s; e++)
                    sum += x[(i * c + ch) * s + e];
            mean[ch] = sum / count;
            double q = 0;
            for (int i = 0; i < n; i++)
                for (int e = 0; e < s; e++)
                {
                    double d = x[(i * c + ch) * s + e] - mean[ch];
                    q += d * d;
                }
            variance[ch] = q / count;
        }
        return (Normalize(x, n, c, s, mean, variance, gamma, beta, eps), mean, variance);
    }

    /// <summary>Evaluation (or any fixed statistics): y = (x − mean)/sqrt(var + eps)·γ + β.</summary>
    public static double[] Normalize(double[] x, int n, int c, int s, double[] mean, double[] variance, double[]? gamma, double[]? beta, double eps)
    {
        var y = new double[x.Length];
        for (int i = 0; i < n; i++)
            for (int ch = 0; ch < c; ch++)
            {
                double inv = 1 / Math.Sqrt(variance[ch] + eps);
                double g = gamma?[ch] ?? 1, b = beta?[ch] ?? 0;
                for (int e = 0; e < s; e++)
                {
                    int k = (i * c + ch) * s + e;
                    y[k] = (x[k] - mean[ch]) * inv * g + b;
                }
            }
        return y;
    }

    /// <summary>Running statistics after one training step: (1 − m)·running + m·batch, with the unbiased variance.</summary>
    public static void UpdateRunning(double[] runMean, double[] runVar, double[] mean, double[] variance, double count, double momentum)
    {
        for (int ch = 0; ch < runMean.Length; ch++)
        {
            runMean[ch] = (1 - momentum) * runMean[ch] + momentum * mean[ch];
            runVar[ch] = (1 - momentum) * runVar[ch] + momentum * variance[ch] * count / (count - 1);
        }
    }

    /// <summary>Training-mode gradients of L = Σ y ⊙ gy (the batch statistics depend on x).</summary>
    public static (double[] Gx, double[] Ggamma, double[] Gbeta) BackwardTrain(double[] x, double[] gy, int n, int c, int s, double[]? gamma, double eps)
    {
        var (_, mean, variance) = ForwardTrain(x, n, c, s, null, null, eps);
        var gx = new double[x.Length];
        var gg = new double[c];
        var gb = new double[c];
        double count = (double)n * s;
        for (int ch = 0; ch < c; ch++)
        {
            double inv = 1 / Math.Sqrt(variance[ch] + eps);
            double sg = 0, sgx = 0;
            for (int i = 0; i < n; i++)
                for (int e = 0; e < s; e++)
                {
                    int k = (i * c + ch) * s + e;
                    sg += gy[k];
                    sgx += gy[k] * (x[k] - mean[ch]) * inv;
                }
            gg[ch] = sgx;
            gb[ch] = sg;
            double g = gamma?[ch] ?? 1;
            for (int i = 0; i < n; i++)
                for (int e = 0; e < s; e++)
                {
                    int k = (i * c + ch) * s + e;
                    double xhat = (x[k] - mean[ch]) * inv;
                    gx[k] = g * inv * (gy[k] - sg / count - xhat * sgx / count);
                }
        }
        return (gx, gg, gb);
    }

    /// <summary>Evaluation-mode gradients (fixed statistics).</summary>
    public static (double[] Gx, double[] Ggamma, double[] Gbeta) BackwardEval(double[] x, double[] gy, int n, int c, int s, double[] mean, double[] variance, double[]? gamma, double eps)
    {
        var gx = new double[x.Length];
        var gg = new double[c];
        var gb = new double[c];
        for (int ch = 0; ch < c; ch++)
        {
            double inv = 1 / Math.Sqrt(variance[ch] + eps);
            double g = gamma?[ch] ?? 1;
            for (int i = 0; i < n; i++)
                for (int e = 0; e < s; e++)
                {
                    int k = (i * c + ch) * s + e;
                    gx[k] = gy[k] * g * inv;
                    gg[ch] += gy[k] * (x[k] - mean[ch]) * inv;
                    gb[ch] += gy[k];
                }
        }
        return (gx, gg, gb);
    }
}
