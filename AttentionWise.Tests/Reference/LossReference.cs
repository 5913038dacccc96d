namespace AttentionWise.Tests.Reference;

/// <summary>Float64 log-softmax + mean NLL loss, forward beside backward. logits [N, K], labels [N].</summary>
public static class LossReference
{
    public static double[] LogSoftmax(double[] logits, int n, int k)
    {
        var lp = new double[n * k];
        for (int i = 0; i < n; i++)
        {
            double max = double.NegativeInfinity;
            for (int j = 0; j < k; j++)
                max = Math.Max(max, logits[i * k + j]);
            double sum = 0;
            for (int j = 0; j < k; j++)
                sum += Math.Exp(logits[i * k + j] - max);
            double lse = max + Math.Log(sum);
            for (int j = 0; j < k; j++)
                lp[i * k + j] = logits[i * k + j] - lse;
        }
        return lp;
    }

    /// <summary>Mean NLL and the number of rows whose (first) argmax is the label.</summary>
    public static (double Loss, int Correct) Forward(double[] logits, int[] labels, int n, int k)
    {
        var lp = LogSoftmax(logits, n, k);
        double loss = 0;
        int correct = 0;
        for (int i = 0; i < n; i++)
        {
            loss -= lp[i * k + labels[i]];
            int arg = 0;
            for (int j = 1; j < k; j++)
                if (logits[i * k + j] > logits[i * k + arg])
                    arg = j;
            if (arg == labels[i])
                correct++;
        }
        return (loss / n, correct);
    }

    /// <summary>d(mean NLL)/d logits = (softmax − one-hot)/N.</summary>
    public static double[] Backward(double[] logits, int[] labels, int n, int k)
    {
        var lp = LogSoftmax(logits, n, k);
        var g = new double[n * k];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < k; j++)
                g[i * k + j] = (Math.Exp(lp[i * k + j]) - (j == labels[i] ? 1 : 0)) / n;
        return g;
    }
}

/// <summary>Float64 Adam (PyTorch's update rule) on one flat parameter.</summary>
public sealed class AdamReference
{
    private readonly double[] _m;
    private readonly double[] _v;

    public AdamReference(int length, double lr, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8)
    {
        _m = new double[length];
        _v = new double[length];
        Lr = lr;
        Beta1 = beta1;
        Beta2 = beta2;
        Eps = eps;
    }

    public double Lr { get; }
    public double Beta1 { get; }
    public double Beta2 { get; }
    public double Eps { get; }
    public int Steps { get; private set; }
    public double[] M => _m;
    public double[] V => _v;

    public void Step(double[] p, double[] g)
    {
        Steps++;
        double bc1 = 1 - Math.Pow(Beta1, Steps);
        double bc2 = 1 - Math.Pow(Beta2, Steps);
        for (int i = 0; i < p.Length; i++)
        {
            _m[i] = Beta1 * _m[i] + (1 - Beta1) * g[i];
            _v[i] = Beta2 * _v[i] + (1 - Beta2) * g[i] * g[i];
            p[i] -= Lr / bc1 * _m[i] / (Math.Sqrt(_v[i]) / Math.Sqrt(bc2) + Eps);
        }
    }
}
