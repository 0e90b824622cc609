"""The largest prediction differences per export path (the table in the README's Reach section).

Run: python docs/reach_max_differences.py  (needs the onnx extra; about 2 min)
"""
import numpy as np, warnings, fastmlp, fastmlp.onnx
import sklearn.neural_network as sknn
import onnxruntime as ort
from skl2onnx import to_onnx
warnings.simplefilter("ignore")
rng=np.random.RandomState(1); X=rng.rand(500,8)
cls={"binary":(X[:,0]+X[:,1]>1).astype(int),"multiclass":np.digitize(X[:,2],[.3,.6]),
     "multilabel":np.c_[X[:,0]>.5,X[:,1]>.4,X[:,3]<.6].astype(int)}
reg={"single":X@np.arange(8.),"multioutput":np.c_[X@np.arange(8.),X[:,0]*X[:,1]],"poisson":np.exp(X@np.linspace(-.5,.5,8))}
worst={}
def note(path, d):
    worst[path]=max(worst.get(path,0.0), float(d))
def outs(m, Xd):
    r=[m.predict(Xd).astype(float)] if not hasattr(m,'transform') else [m.transform(Xd)]
    if hasattr(m,'predict_proba'): r.append(m.predict_proba(Xd))
    return r
def onx(m, Xd):
    kw={"options":{"zipmap":False}} if hasattr(m,"predict_proba") else {}
    s=ort.InferenceSession(to_onnx(m,Xd[:1],**kw).SerializeToString(),providers=["CPUExecutionProvider"])
    o=s.run(None,{s.get_inputs()[0].name:Xd})
    return o[1] if hasattr(m,"predict_proba") else o[0]
models=[]
for act in ["identity","logistic","tanh","relu"]:
  for solver in ["adam","sgd","lbfgs"]:
    for k,y in cls.items(): models.append((fastmlp.MLPClassifier((16,8),activation=act,solver=solver,max_iter=100,random_state=0),y))
    for k,y in reg.items(): models.append((fastmlp.MLPRegressor(loss="poisson" if k=="poisson" else "squared_error",hidden_layer_sizes=(16,8),activation=act,solver=solver,max_iter=100,random_state=0),y))
models.append((fastmlp.BernoulliRBM(10,n_iter=5,random_state=0),None))
for m,y in models:
  for dt in (np.float64,np.float32):
    Xd=X.astype(dt) if y is not None else (X>.5).astype(dt)
    m.fit(Xd) if y is None else m.fit(Xd,y)
    name=type(m).__name__; key=dt.__name__
    sk=m.to_sklearn()
    for a,b in zip(outs(m,Xd),outs(sk,Xd)): note("to_sklearn %s"%key, np.abs(a-b).max()/max(1,np.abs(a).max()))
    back=fastmlp.from_sklearn(sk)
    for a,b in zip(outs(sk,Xd),outs(back,Xd)): note("from_sklearn %s"%key, np.abs(a-b).max()/max(1,np.abs(a).max()))
    o=onx(m,Xd); ref=outs(m,Xd)[-1]
    note("onnx %s %s"%(name,key), np.abs(o.reshape(ref.shape)-ref).max()/max(1,np.abs(ref).max()))
for k,v in sorted(worst.items()): print("%-32s %.3g"%(k,v))
