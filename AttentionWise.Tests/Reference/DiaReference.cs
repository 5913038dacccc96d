namespace AttentionWise.Tests.Reference;

/// <summary>The parameters of a DIA unit in float64, in DiaUnit's order (PyTorch layouts).</summary>
public sealed class DiaParams
{
    public DiaParams(int channels, int hidden)
    {
        C = channels;
        R = hidden;
        All = [new double[R * C], new double[R], new double[4 * C * R], new double[4 * C], new double[R * C], new double[R], new double[4 * C * R], new double[4 * C]];
    }

    public int C { get; }
    public int R { get; }

    /// <summary>ih1.weight [R, C], ih1.bias [R], ih2.weight [4C, R], ih2.bias [4C], then the same for hh.</summary>
    public double[][] All { get; }

    public double[] Ih1W => All[0];
    public double[] Ih1B => All[1];
    public double[] Ih2W => All[2];
    public double[] Ih2B => All[3];
    public double[] Hh1W => All[4];
    public double[] Hh1B => All[5];
    public double[] Hh2W => All[6];
    public double[] Hh2B => All[7];

    public DiaParams Zeros() => new(C, R);

    public DiaParams With(int index, double[] value)
    {
        var p = new DiaParams(C, R);
        for (int i = 0; i < All.Length; i++)
            p.All[i] = i == index ? value : All[i];
        return p;
    }
}

/// <summary>A float64 module in a reference DIA stage: forward, and backward that returns the input gradient
/// and adds its own parameter gradients.</summary>
public interface IReferenceModule
{
    double[] Forward(double[] x);
    double[] Backward(double[] gy);
}

/// <summary>y = factor·x (a stand-in for a stage's conv in tests of the DIA chain alone).</summary>
public sealed class ReferenceScale(double factor) : IReferenceModule
{
    public double[] Forward(double[] x) => Array.ConvertAll(x, v => factor * v);
    public double[] Backward(double[] gy) => Array.ConvertAll(gy, v => factor * v);
}

/// <summary>A Conv2dReference with its weights, keeping its input and accumulating gW, gb.</summary>
public sealed class ReferenceConv(Conv2dReference conv, double[] w, double[]? b) : IReferenceModule
{
    private double[]? _x;

    public double[] W { get; } = w;
    public double[]? B { get; } = b;
    public double[] GW { get; } = new double[w.Length];
    public double[]? GB { get; } = b is null ? null : new double[b.Length];

    public double[] Forward(double[] x)
    {
        _x = x;
        return conv.Forward(x, W, B);
    }

    public double[] Backward(double[] gy)
    {
        var (gx, gw, gb) = conv.Backward(_x!, W, gy);
        for (int i = 0; i < gw.Length; i++)
            GW[i] += gw[i];
        if (GB is not null)
        {
            for (int i = 0; i < GB.Length; i++)
                GB[i] += gb[i];
        }
        return gx;
    }
}

/// <summary>
/// Float64 reference of DIA (SPEC §3), forward beside backward: the LSTM cell step, and a stage of modules
/// each followed by pooling, a cell step and F ⊙ h then ReLU, with backpropagation through the chain of states.
/// Layouts: s, h, c [N, C]; F [N, C, P] (P = H·W).
/// </summary>
public static class DiaReference
{
    public sealed class StepCache
    {
        public required double[] S { get; init; }
        public required double[] HPrev { get; init; }
        public required double[] CPrev { get; init; }
        public required double[] AIh { get; init; }
        public required double[] AHh { get; init; }
        public required double[] I { get; init; }
        public required double[] F { get; init; }
        public required double[] G { get; init; }
        public required double[] O { get; init; }
        public required double[] C { get; init; }
        public required double[] H { get; init; }
    }

    public static StepCache Step(DiaParams p, int n, double[] s, double[] hPrev, double[] cPrev)
    {
        int c = p.C, r = p.R;
        var aIh = DenseRelu(s, p.Ih1W, p.Ih1B, n, c, r);
        var aHh = DenseRelu(hPrev, p.Hh1W, p.Hh1B, n, c, r);
        var gIh = Dense(aIh, p.Ih2W, p.Ih2B, n, r, 4 * c);
        var gHh = Dense(aHh, p.Hh2W, p.Hh2B, n, r, 4 * c);
        var i = new double[n * c];
        var f = new double[n * c];
        var g = new double[n * c];
        var o = new double[n * c];
        var cn = new double[n * c];
        var hn = new double[n * c];
        for (int b = 0; b < n; b++)
        for (int k = 0; k < c; k++)
        {
            int e = b * c + k, gb = b * 4 * c + k;
            i[e] = Sigmoid(gIh[gb] + gHh[gb]);
            f[e] = Sigmoid(gIh[gb + c] + gHh[gb + c]);
            g[e] = Math.Tanh(gIh[gb + 2 * c] + gHh[gb + 2 * c]);
            o[e] = Sigmoid(gIh[gb + 3 * c] + gHh[gb + 3 * c]);
            cn[e] = f[e] * cPrev[e] + i[e] * g[e];
            hn[e] = o[e] * Sigmoid(cn[e]);
        }
        return new StepCache { S = s, HPrev = hPrev, CPrev = cPrev, AIh = aIh, AHh = aHh, I = i, F = f, G = g, O = o, C = cn, H = hn };
    }

    /// <summary>Backward of one step from gh, gc (gradients of the step's h and c): returns the gradients of s,
    /// hPrev and cPrev and adds the parameter gradients into <paramref name="grads"/>.</summary>
    public static (double[] Gs, double[] GhPrev, double[] GcPrev) StepBackward(DiaParams p, int n, StepCache k, double[] gh, double[] gc, DiaParams grads)
    {
        int c = p.C, r = p.R;
        var gGates = new double[n * 4 * c];
        var gcPrev = new double[n * c];
        for (int b = 0; b < n; b++)
        for (int q = 0; q < c; q++)
        {
            int e = b * c + q, gb = b * 4 * c + q;
            double sc = Sigmoid(k.C[e]);
            double gct = gc[e] + gh[e] * k.O[e] * sc * (1 - sc);
            double go = gh[e] * sc;
            gGates[gb] = gct * k.G[e] * k.I[e] * (1 - k.I[e]);
            gGates[gb + c] = gct * k.CPrev[e] * k.F[e] * (1 - k.F[e]);
            gGates[gb + 2 * c] = gct * k.I[e] * (1 - k.G[e] * k.G[e]);
            gGates[gb + 3 * c] = go * k.O[e] * (1 - k.O[e]);
            gcPrev[e] = gct * k.F[e];
        }
        var gaIh = DenseBackward(k.AIh, p.Ih2W, gGates, n, r, 4 * c, grads.Ih2W, grads.Ih2B);
        var gaHh = DenseBackward(k.AHh, p.Hh2W, gGates, n, r, 4 * c, grads.Hh2W, grads.Hh2B);
        for (int e = 0; e < gaIh.Length; e++)
        {
            if (k.AIh[e] <= 0)
                gaIh[e] = 0;
            if (k.AHh[e] <= 0)
                gaHh[e] = 0;
        }
        var gs = DenseBackward(k.S, p.Ih1W, gaIh, n, c, r, grads.Ih1W, grads.Ih1B);
        var ghPrev = DenseBackward(k.HPrev, p.Hh1W, gaHh, n, c, r, grads.Hh1W, grads.Hh1B);
        return (gs, ghPrev, gcPrev);
    }

    public sealed class StageCache
    {
        public required List<double[]> Features { get; init; }
        public required List<double[]> Outputs { get; init; }
        public required List<StepCache> Steps { get; init; }
    }

    /// <summary>A stage: for each module, F = module(x), s = mean_P F, (h, c) = Step(s, (h, c)), x = ReLU(F ⊙ h).
    /// Every module must output [N, C, P] with the same P here (the stage kernels allow any P per module).</summary>
    public static (double[] Out, StageCache Cache) StageForward(DiaParams p, int n, IReadOnlyList<IReferenceModule> modules, double[] x, Func<int, int> planeOf)
    {
        int c = p.C;
        var h = new double[n * c];
        var cs = new double[n * c];
        var features = new List<double[]>();
        var outputs = new List<double[]>();
        var steps = new List<StepCache>();
        for (int t = 0; t < modules.Count; t++)
        {
            var f = modules[t].Forward(x);
            int plane = planeOf(t);
            var s = new double[n * c];
            for (int e = 0; e < n * c; e++)
            {
                double sum = 0;
                for (int q = 0; q < plane; q++)
                    sum += f[e * plane + q];
                s[e] = sum / plane;
            }
            var step = Step(p, n, s, h, cs);
            var output = new double[f.Length];
            for (int e = 0; e < n * c; e++)
            {
                for (int q = 0; q < plane; q++)
                    output[e * plane + q] = Math.Max(0, f[e * plane + q] * step.H[e]);
            }
            features.Add(f);
            outputs.Add(output);
            steps.Add(step);
            h = step.H;
            cs = step.C;
            x = output;
        }
        return (x, new StageCache { Features = features, Outputs = outputs, Steps = steps });
    }

    /// <summary>Backward of <see cref="StageForward"/> through the chain of states; returns the input gradient
    /// and adds the unit's parameter gradients into <paramref name="grads"/> (and the modules' into themselves).</summary>
    public static double[] StageBackward(DiaParams p, int n, IReadOnlyList<IReferenceModule> modules, StageCache cache, double[] gOut, Func<int, int> planeOf, DiaParams grads)
    {
        int c = p.C;
        var ghCarry = new double[n * c];
        var gcCarry = new double[n * c];
        var g = gOut;
        for (int t = modules.Count - 1; t >= 0; t--)
        {
            int plane = planeOf(t);
            var f = cache.Features[t];
            var output = cache.Outputs[t];
            var step = cache.Steps[t];
            var gh = (double[])ghCarry.Clone();
            for (int e = 0; e < n * c; e++)
            {
                for (int q = 0; q < plane; q++)
                {
                    int i = e * plane + q;
                    if (output[i] > 0)
                        gh[e] += g[i] * f[i];
                }
            }
            var (gs, ghPrev, gcPrev) = StepBackward(p, n, step, gh, gcCarry, grads);
            var gf = new double[f.Length];
            for (int e = 0; e < n * c; e++)
            {
                for (int q = 0; q < plane; q++)
                {
                    int i = e * plane + q;
                    gf[i] = (output[i] > 0 ? g[i] * step.H[e] : 0) + gs[e] / plane;
                }
            }
            g = modules[t].Backward(gf);
            ghCarry = ghPrev;
            gcCarry = gcPrev;
        }
        return g;
    }

    public static double Sigmoid(double v) => 1 / (1 + Math.Exp(-v));

    private static double[] DenseRelu(double[] x, double[] w, double[] b, int n, int inF, int outF)
    {
        var y = Dense(x, w, b, n, inF, outF);
        for (int i = 0; i < y.Length; i++)
            y[i] = Math.Max(0, y[i]);
        return y;
    }

    private static double[] Dense(double[] x, double[] w, double[] b, int n, int inF, int outF)
    {
        var y = new double[n * outF];
        for (int k = 0; k < n; k++)
        for (int o = 0; o < outF; o++)
        {
            double s = b[o];
            for (int i = 0; i < inF; i++)
                s += x[k * inF + i] * w[o * inF + i];
            y[k * outF + o] = s;
        }
        return y;
    }

    /// <summary>y = x·Wᵀ + b backward: adds gW, gb; returns gx.</summary>
    private static double[] DenseBackward(double[] x, double[] w, double[] gy, int n, int inF, int outF, double[] gw, double[] gb)
    {
        var gx = new double[n * inF];
        for (int k = 0; k < n; k++)
        for (int o = 0; o < outF; o++)
        {
            double g = gy[k * outF + o];
            gb[o] += g;
            for (int i = 0; i < inF; i++)
            {
                gw[o * inF + i] += g * x[k * inF + i];
                gx[k * inF + i] += g * w[o * inF + i];
            }
        }
        return gx;
    }
}
